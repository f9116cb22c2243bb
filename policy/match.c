/* match.c - placeholder. */
#include "policy/policy.h"
