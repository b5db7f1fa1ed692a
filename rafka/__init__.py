"""Rafka: a Kafka-compatible message broker with one durable log core and several front doors."""

__version__ = "0.1.0"
