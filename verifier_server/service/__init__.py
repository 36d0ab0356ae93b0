"""The reward service around the library: gRPC server, HTTP gateway, config, metrics, logs and the clients."""
