"""What moves images in and out of the store: push, save/load, commit."""
