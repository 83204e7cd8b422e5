"""Billing: Stripe subscriptions for the hosted plans (BILLING_ENABLED); the plan always follows Stripe."""
