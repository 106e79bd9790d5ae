"""The local run: executes a pipeline definition offline, without Docker (see __main__)."""
