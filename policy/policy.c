/* policy.c - placeholder. */
#include "policy/policy.h"
