"""One module per resource of the API: its objects (pydantic models) and its operations."""
