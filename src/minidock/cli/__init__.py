"""The command line: a thin layer over the library; all printing lives here."""
