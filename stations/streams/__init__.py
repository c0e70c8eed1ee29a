"""OCPP 2.1 periodic event streams (functional block N): what a station opened, and its data."""
