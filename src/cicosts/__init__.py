"""CICosts: engineering spend on one ledger."""

__version__ = "0.1.0"
