"""Domain types and pure functions. Imports only the standard library, numpy and jsonschema."""
