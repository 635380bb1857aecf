/* ingest.c — units of records from adapters to the journal (ingest.h). */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ingest_unit_t *ingest_unit_new(const char *adapter, const char *topic, const char *qtopic)
{
    ingest_unit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->adapter, sizeof self->adapter, "%s", adapter);
    snprintf(self->topic, sizeof self->topic, "%s", topic);
    snprintf(self->qtopic, sizeof self->qtopic, "%s", qtopic);
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    return self;
}

void ingest_unit_destroy(ingest_unit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_unit_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        ingest_msg_t *m = &self->msgs[i];
        free(m->id);
        free(m->key);
        free(m->headers);
        free(m->payload);
    }
    free(self->msgs);
    free(self->state);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self);
    *self_p = NULL;
}

static void *s_dup(const void *p, size_t len)
{
    char *d = malloc(len + 1);   /* +1: text fields stay NUL-terminated */
    if (d) {
        if (len)
            memcpy(d, p, len);
        d[len] = 0;
    }
    return d;
}

int ingest_unit_add(ingest_unit_t *self, const char *id, const void *key, size_t key_len,
                    const char *headers, const void *payload, size_t payload_len,
                    bool quarantine)
{
    if (self->n == self->cap) {
        size_t ncap = self->cap ? self->cap * 2 : 64;
        ingest_msg_t *n = realloc(self->msgs, ncap * sizeof *n);
        if (!n)
            return -1;
        self->msgs = n;
        self->cap = ncap;
    }
    ingest_msg_t *m = &self->msgs[self->n];
    memset(m, 0, sizeof *m);
    m->id_len = strlen(id);
    m->id = s_dup(id, m->id_len);
    m->key_len = key_len;
    m->key = s_dup(key, key_len);
    m->headers_len = headers ? strlen(headers) : 0;
    m->headers = s_dup(headers ? headers : "", m->headers_len);
    m->payload_len = payload_len;
    m->payload = s_dup(payload, payload_len);
    m->quarantine = quarantine;
    if (!m->id || !m->key || !m->headers || !m->payload) {
        free(m->id);
        free(m->key);
        free(m->headers);
        free(m->payload);
        return -1;
    }
    self->n++;
    self->bytes += payload_len + m->headers_len + m->id_len + key_len;
    return 0;
}

int ingest_unit_set_state(ingest_unit_t *self, const void *state, size_t len)
{
    void *copy = s_dup(state, len);
    if (!copy)
        return -1;
    free(self->state);
    self->state = copy;
    self->state_len = len;
    self->has_state = true;
    return 0;
}

void ingest_unit_finish(ingest_unit_t *self, int status, const char *error,
                        uint64_t stored, uint64_t duplicates, uint64_t quarantined)
{
    pthread_mutex_lock(&self->mu);
    self->status = status;
    snprintf(self->error, sizeof self->error, "%s", error ? error : "");
    self->stored = stored;
    self->duplicates = duplicates;
    self->quarantined = quarantined;
    self->done = true;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

void ingest_unit_wait(ingest_unit_t *self)
{
    pthread_mutex_lock(&self->mu);
    while (!self->done)
        pthread_cond_wait(&self->cv, &self->mu);
    pthread_mutex_unlock(&self->mu);
}
