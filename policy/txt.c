/* txt.c - placeholder. */
#include "policy/policy.h"
