"""``hybridock build``: Dockerfiles to images, with BuildKit's semantics.

``dockerfile/`` is the language alone (parser, shell-word lexer, typed instructions, stage
graph; it imports nothing of the store or the runtime). ``context`` reads the build context
once (``.dockerignore``, content digests in the native core) and selects COPY sources;
``executor`` runs the stages the target needs (independent ones in parallel), each step
through the content-addressed ``cache`` or for real (RUN through the spawner, COPY and ADD
through the container file view), and records the image.
"""
