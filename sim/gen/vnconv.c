/* vnconv.c — lgsp-vnconv: converts a file between UTF-8 and the legacy
 * Vietnamese encodings with lgsp-gen's own tables.
 *   lgsp-vnconv -d TCVN3|VNI-Windows|CP1258|UTF-8 [FILE]   decode to UTF-8
 *   lgsp-vnconv -e TCVN3|VNI-Windows|CP1258|UTF-8 [FILE]   encode from UTF-8
 * Exits 1 when a byte or character could not be converted exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnlegacy.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (strcmp(argv[1], "-d") != 0 && strcmp(argv[1], "-e") != 0)) {
        fprintf(stderr, "usage: lgsp-vnconv -d|-e TCVN3|VNI-Windows|CP1258|UTF-8 [FILE]\n");
        return 2;
    }
    int cs = -1;
    for (int i = 0; i < VN__COUNT; i++)
        if (strcmp(argv[2], vn_charset_name[i]) == 0)
            cs = i;
    if (cs < 0) {
        fprintf(stderr, "lgsp-vnconv: unknown encoding '%s'\n", argv[2]);
        return 2;
    }
    FILE *f = argc == 4 ? fopen(argv[3], "rb") : stdin;
    if (!f) {
        perror(argv[3]);
        return 2;
    }
    sbuf_t in, out;
    sbuf_init(&in);
    sbuf_init(&out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_put(&in, buf, n);
    if (f != stdin)
        fclose(f);
    size_t bad;
    if (argv[1][1] == 'd') {
        bad = vn_decode((vn_charset_t)cs, in.p ? in.p : "", in.len, &out);
    } else {
        if (in.len != strlen(in.p ? in.p : "")) {
            fprintf(stderr, "lgsp-vnconv: NUL byte in input\n");
            return 2;
        }
        bad = vn_encode((vn_charset_t)cs, in.p ? in.p : "", &out);
    }
    fwrite(out.p ? out.p : "", 1, out.len, stdout);
    sbuf_free(&in);
    sbuf_free(&out);
    if (bad)
        fprintf(stderr, "lgsp-vnconv: %zu character(s) not converted exactly\n", bad);
    return bad ? 1 : 0;
}
