"""Names of environment variables that the CLI needs before it loads the config module."""

OWNER_ENV = "SYNCD_OWNER"
