"""What moves images in and out of the store: push, save/load and import, commit.

``local`` installs layer files made or brought here and records the images made of them;
``changes`` applies Dockerfile instructions (``-c``) to an image config.
"""
