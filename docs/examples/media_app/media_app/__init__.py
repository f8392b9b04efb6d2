"""An example application that runs its own tasks behind pgjobs (docs/examples/media_app)."""
