"""Held-out combinations: conditions no train/val/test image meets, and the heldout split."""
