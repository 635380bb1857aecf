/* lgsp/protocol.h — constants of the lgsp wire protocol, version 1.
 *
 * docs/protocol.md is the specification; this header only names its
 * constants so that the broker and C clients spell them once. */
#ifndef LGSP_PROTOCOL_H
#define LGSP_PROTOCOL_H

#define LGSP_PROTO_SIGNATURE     "LGSP1"

/* client -> broker */
#define LGSP_CMD_HELLO           "HELLO"
#define LGSP_CMD_PUB             "PUB"
#define LGSP_CMD_SUB             "SUB"
#define LGSP_CMD_CREDIT          "CREDIT"
#define LGSP_CMD_ACK             "ACK"
#define LGSP_CMD_NACK            "NACK"
#define LGSP_CMD_REJECT          "REJECT"   /* a NACK that dead-letters at once */
#define LGSP_CMD_TOUCH           "TOUCH"    /* still working: restart visibility timeouts */
#define LGSP_CMD_UNSUB           "UNSUB"
#define LGSP_CMD_BYE             "BYE"
#define LGSP_CMD_ADMIN           "ADMIN"
/* both directions */
#define LGSP_CMD_HEARTBEAT       "HEARTBEAT"
/* broker -> client */
#define LGSP_CMD_WELCOME         "WELCOME"
#define LGSP_CMD_PUBOK           "PUBOK"
#define LGSP_CMD_PUBERR          "PUBERR"
#define LGSP_CMD_SUBOK           "SUBOK"
#define LGSP_CMD_UNSUBOK         "UNSUBOK"
#define LGSP_CMD_MSG             "MSG"
#define LGSP_CMD_ERROR           "ERROR"
#define LGSP_CMD_ADMINOK         "ADMINOK"

/* Frames per message inside PUB, PUBOK and MSG. */
#define LGSP_PUB_FRAMES_PER_MSG   4   /* id key headers payload */
#define LGSP_PUBOK_FRAMES_PER_MSG 3   /* id offset status */
#define LGSP_MSG_FRAMES_PER_MSG   7   /* offset attempt time id key headers payload */

/* Limits fixed by the protocol (the broker's configuration may only lower them). */
#define LGSP_MAX_NAME        200     /* topic and group names */
#define LGSP_MAX_ID          128     /* message ids */
#define LGSP_MAX_KEY         255     /* partition keys */
#define LGSP_MAX_HEADERS     16384   /* header JSON */
#define LGSP_MAX_REASON      1024    /* NACK / REJECT reason */
#define LGSP_MAX_PUB_BATCH   1000    /* messages in one PUB */
#define LGSP_LIVENESS        5       /* heartbeats of silence before a peer is gone */

/* Error codes (docs/protocol.md §6). */
enum lgsp_status {
    LGSP_BAD_REQUEST     = 400,
    LGSP_NO_SESSION      = 401,
    LGSP_FORBIDDEN       = 403,
    LGSP_NOT_FOUND       = 404,
    LGSP_TOO_LARGE       = 413,
    LGSP_TOO_MANY        = 429,
    LGSP_INTERNAL        = 500,
    LGSP_UNAVAILABLE     = 503,
    LGSP_BAD_VERSION     = 505,
    LGSP_JOURNAL_FULL    = 507,
};

#endif
