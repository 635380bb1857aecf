/* dropper.c — see dropper.h. */
#include "dropper.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simutil.h"

typedef struct s_item {
    char          *name;
    char          *src;        /* a file to copy, or NULL */
    char          *bytes;      /* or the content */
    size_t         len;
    struct s_item *next;
} s_item_t;

struct dropper {
    char            who[32];
    char           *dir;
    long            interval_ms;
    fault_t        *fault;
    pthread_t       thread;
    bool            started;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    s_item_t       *head, *tail;
    size_t          queued;
    bool            paused, stop;
    volatile bool   stop_flag;
    uint64_t        dropped, truncated, abandoned, failed;
    char            last[256];
};

dropper_t *dropper_new(const char *who, const char *dir, long interval_ms, fault_t *fault,
                       char *err, size_t errsz)
{
    if (sim_mkdirs(dir) != 0) {
        snprintf(err, errsz, "%s: cannot create: %s", dir, strerror(errno));
        return NULL;
    }
    dropper_t *self = xcalloc(1, sizeof *self);
    snprintf(self->who, sizeof self->who, "%s", who);
    self->dir = xstrdup(dir);
    self->interval_ms = interval_ms;
    self->fault = fault;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    return self;
}

static void s_push(dropper_t *self, s_item_t *it, bool front)
{
    pthread_mutex_lock(&self->mu);
    if (front) {
        it->next = self->head;
        self->head = it;
        if (!self->tail)
            self->tail = it;
    } else {
        it->next = NULL;
        if (self->tail)
            self->tail->next = it;
        else
            self->head = it;
        self->tail = it;
    }
    self->queued++;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

void dropper_add_file(dropper_t *self, const char *name, const char *src)
{
    s_item_t *it = xcalloc(1, sizeof *it);
    it->name = xstrdup(name);
    it->src = xstrdup(src);
    s_push(self, it, false);
}

void dropper_add_bytes(dropper_t *self, const char *name, char *bytes, size_t len)
{
    s_item_t *it = xcalloc(1, sizeof *it);
    it->name = xstrdup(name);
    it->bytes = bytes;
    it->len = len;
    s_push(self, it, false);
}

static void s_free_item(s_item_t *it)
{
    free(it->name);
    free(it->src);
    free(it->bytes);
    free(it);
}

static void *s_run(void *arg)
{
    dropper_t *self = arg;
    int64_t next = 0;
    for (;;) {
        pthread_mutex_lock(&self->mu);
        while (!self->stop && (self->paused || !self->head))
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stop) {
            pthread_mutex_unlock(&self->mu);
            break;
        }
        pthread_mutex_unlock(&self->mu);
        int64_t wait = next - sim_now_ms();
        if (wait > 0 && sim_sleep_ms(wait, &self->stop_flag))
            break;
        pthread_mutex_lock(&self->mu);
        s_item_t *it = self->head;
        if (self->paused || !it) {
            pthread_mutex_unlock(&self->mu);
            continue;
        }
        self->head = it->next;
        if (!self->head)
            self->tail = NULL;
        self->queued--;
        pthread_mutex_unlock(&self->mu);

        char *data = it->bytes;
        size_t len = it->len;
        if (it->src && sim_read_file(it->src, &data, &len) != 0) {
            simlog(self->who, "cannot read %s: %s", it->src, strerror(errno));
            pthread_mutex_lock(&self->mu);
            self->failed++;
            pthread_mutex_unlock(&self->mu);
            s_free_item(it);
            continue;
        }
        fault_hit_t h = self->fault ? fault_draw(self->fault) : (fault_hit_t){ 0 };
        if (h.mode == FAULT_SLOW && sim_sleep_ms(h.delay_ms, &self->stop_flag)) {
            if (data != it->bytes)
                free(data);
            s_free_item(it);
            break;
        }
        int rc;
        bool requeue = false;
        if (h.mode == FAULT_ERROR || h.mode == FAULT_CUT) {
            size_t cut = len * 3 / 5;
            rc = sim_write_atomic(self->dir, it->name, data, cut, false);
            requeue = true;
        } else if (h.mode == FAULT_DROP) {
            rc = sim_write_atomic(self->dir, it->name, data, len, true);
            requeue = true;
        } else {
            rc = sim_write_atomic(self->dir, it->name, data, len, false);
        }
        if (rc != 0)
            simlog(self->who, "cannot write %s/%s: %s", self->dir, it->name, strerror(errno));
        pthread_mutex_lock(&self->mu);
        if (rc != 0)
            self->failed++;
        else if (h.mode == FAULT_ERROR || h.mode == FAULT_CUT)
            self->truncated++;
        else if (h.mode == FAULT_DROP)
            self->abandoned++;
        else {
            self->dropped++;
            snprintf(self->last, sizeof self->last, "%s", it->name);
        }
        pthread_mutex_unlock(&self->mu);
        if (data != it->bytes)
            free(data);
        if (requeue)
            s_push(self, it, false);   /* the good file comes again later */
        else
            s_free_item(it);
        next = sim_now_ms() + self->interval_ms;
    }
    return NULL;
}

void dropper_start(dropper_t *self)
{
    if (!self->started && pthread_create(&self->thread, NULL, s_run, self) == 0)
        self->started = true;
}

void dropper_pause(dropper_t *self, bool paused)
{
    pthread_mutex_lock(&self->mu);
    self->paused = paused;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

const char *dropper_dir(const dropper_t *self)
{
    return self->dir;
}

void dropper_status(dropper_t *self, sbuf_t *json)
{
    pthread_mutex_lock(&self->mu);
    sbuf_puts(json, "{\"dir\":\"");
    sbuf_json(json, self->dir);
    sbuf_printf(json, "\",\"interval_ms\":%ld,\"dropped\":%llu,\"queued\":%zu,\"paused\":%s,"
                      "\"truncated\":%llu,\"abandoned\":%llu,\"failed\":%llu,\"last\":\"",
                self->interval_ms, (unsigned long long)self->dropped, self->queued,
                self->paused ? "true" : "false", (unsigned long long)self->truncated,
                (unsigned long long)self->abandoned, (unsigned long long)self->failed);
    sbuf_json(json, self->last);
    sbuf_puts(json, "\"}");
    pthread_mutex_unlock(&self->mu);
}

void dropper_destroy(dropper_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dropper_t *self = *self_p;
    pthread_mutex_lock(&self->mu);
    self->stop = true;
    self->stop_flag = true;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    if (self->started)
        pthread_join(self->thread, NULL);
    while (self->head) {
        s_item_t *it = self->head;
        self->head = it->next;
        s_free_item(it);
    }
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self->dir);
    free(self);
    *self_p = NULL;
}
