"""The core: signing, formats, what a handler gets, errors, signals."""
