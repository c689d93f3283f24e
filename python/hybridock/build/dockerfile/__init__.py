"""The Dockerfile language as BuildKit's frontend reads it: ``parser`` (directives, escape,
continuations, comments, heredocs: source lines to logical instructions with line numbers),
``parse`` (one logical line to its typed instruction, BuildKit's argument and flag rules),
``flags`` (``--flag`` words, ``RUN --mount`` specs, Go durations), ``heredocs`` (finding them,
and how a RUN with heredocs runs), ``shell`` (word splitting and ``$VAR`` expansion, BuildKit's
``shell/lex.go``), ``instructions`` (typed instructions, still unexpanded: variables are
expanded when a step is dispatched, against the stage's ARG and ENV values), ``stages``
(stages, ARGs before FROM and the graph of which stage needs which), ``config`` (what a config
instruction does to an image config, for the builder and ``commit -c``). Pure: no store, no
runtime, no I/O but the text.
"""
