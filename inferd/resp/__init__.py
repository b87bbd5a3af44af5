"""Wire protocol only: request parsing, reply encoding, and the asyncio Protocol of one connection."""
