"""`syncd run`: the daemon loop, its wake-ups, notifications and metrics."""
