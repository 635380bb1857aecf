#include <stdio.h>
#include "sim.h"
static void *s_create(const sim_env_t *env, char *err, size_t errsz) { snprintf(err, errsz, "not yet"); return NULL; }
const sim_ops_t qn_land_ops = { .create = s_create };
