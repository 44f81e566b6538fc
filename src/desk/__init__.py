"""desk: a terminal support desk for customer-service teams whose job is to keep customers."""

__version__ = "0.1.0"
