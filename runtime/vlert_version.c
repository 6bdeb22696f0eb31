/* vlert_version.c - the runtime library's version string. */
const char *vle_runtime_version(void) { return "0.1.0"; }
