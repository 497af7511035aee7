"""Stage 1, toolchain: find emcc (EMSDK, PATH, or the provisioned chroot), refuse unproven versions, and
``doctor``'s probes of everything a build needs."""
