"""Sign-in with GitHub, access and refresh tokens."""
