"""Alerts: rules over the ledger, their evaluation, triggers and notifications, and the weekly digest."""
