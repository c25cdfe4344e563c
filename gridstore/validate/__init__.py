"""Checking data: a committed version, an array of images, the generator's rules."""

from gridstore.validate.report import CHECKS, CheckResult, ValidationReport
from gridstore.validate.version import validate_version

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "validate_version"]
