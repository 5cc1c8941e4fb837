/*
 * A library with an old-style DT_RPATH ($ORIGIN/dlm_rp3) and libdlm_loader_plain.so as DT_NEEDED:
 * glibc searches a DT_RPATH for the dlopens of the objects loaded on its behalf too, so
 * dlm_loader_open() of that dependency finds names in dlm_rp3.
 */
int dlm_rpath_marker(void) { return 3; }
