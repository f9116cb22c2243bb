/* store.c - placeholder. */
#include "policy/policy.h"
