/* lgsp_map.h — `lgsp map`, the mapping dry run (lgsp_map.c). */
#ifndef LGSP_MAP_H
#define LGSP_MAP_H

#include <stdio.h>

/* argv[0] is "map". Returns the exit status. */
int  lgsp_map_main(int argc, char **argv);
void lgsp_map_usage(FILE *out);

#endif
