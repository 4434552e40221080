"""The Teams app package: manifest template, icons and its builder (`python -m manifest.build`)."""
