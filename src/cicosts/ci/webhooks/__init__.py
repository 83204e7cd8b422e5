"""Receiving GitHub webhooks: verify, store once, answer at once."""
