"""One module per `thimble` verb: argument parsing, calls into the library
modules that do the work, and printing. thimble.cli lists them; nothing
outside this folder imports them."""
