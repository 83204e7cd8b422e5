"""Notifications: emails composed safely and sent through the durable outbox, after the request commits."""
