"""What the running service tells its operators: a request id, one log line and metrics per
request, and optional traces."""
