"""The host side of the board's application (runtime/device/app): tool
schemas and the encoder prompt (prompt), the request a board is asked and
the answer it sends back (request)."""
