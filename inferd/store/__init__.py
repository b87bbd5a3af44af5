"""The keyspace (databases, expiry, type checks, WATCH signalling) and the value types."""
