"""Checking data: a committed version, an array of images, the generator's rules."""

from gridstore.validate.version import CHECKS, CheckResult, ValidationReport, validate_version

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "validate_version"]
