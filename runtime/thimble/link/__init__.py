"""The serial link to a board: frame codec, client (deploy, rollback, run)
and the `fault://` pyserial URL handler used by tests and the benchmark.
Importing this package registers the handler with pyserial."""
import serial

if "thimble.link" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("thimble.link")
