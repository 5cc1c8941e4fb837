/* What the rest of the guard tells the public API (include/mmapguard.h, api.c). */
#ifndef MG_API_H
#define MG_API_H

#include "guard.h"

struct mg_event;

/* The program's callback, if it registered one; called with the guard raised. */
void mg_api_notify(const struct mg_event *e) MG_HIDDEN;

#endif
