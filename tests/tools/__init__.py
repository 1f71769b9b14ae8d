"""The sandbox, the demo, the client, the testing kit, settings and metrics."""
