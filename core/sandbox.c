/* Builds Lua states (standard libraries, embedded core modules, bindings) and runs plugin code
 * under budgets: a memory cap on the whole state and an instruction budget per call. */
#include "sandbox.h"
#include "purge.h"

#include <dlfcn.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "embedded.h"
#include "lua_api.h"
#include "pattern.h"
#include "util.h"

#define HOOK_STEP 1000 /* instructions between budget checks */
/* A budget of B instructions is counted once the call has run B ns of CPU time (no Lua runs a
 * thousand million instructions a second), so at most about 2B run before it is stopped; below
 * EXACT_BELOW (under a millisecond of grace) it is counted from the first instruction. */
#define EXACT_BELOW 1000000

/* Per-state accounting; a pointer to it sits in the state's extra space (copied to threads). */
typedef struct {
  lua_State *main;
  size_t used, cap;   /* bytes held by the state; cap 0 means unlimited */
  int over_cap;       /* an allocation was refused during the current budgeted call */
  int active;         /* inside qr budgeted call */
  long long remaining; /* instructions left in the current call */
  long long budget;
  int tripped;        /* the instruction budget ran out; keep raising until the call unwinds */
  const char *label;  /* who is running, for messages; the string is the call's argument 1,
                       * so it stays on the Lua stack (alive) for the whole call */
} sandbox_state;

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "quire: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
  abort();
}

static sandbox_state *state_of(lua_State *L) { return *(sandbox_state **)lua_getextraspace(L); }

static void budget_hook(lua_State *L, lua_Debug *ar);
static int budget_error(lua_State *L, sandbox_state *s);

/* QUIRE_LUA_PROFILE=FILE: a sampling profile of the Lua side, for measuring (perf sees liblua,
 * not which Lua function runs). Every millisecond of CPU time SIGPROF counts a tick; the next
 * count or return hook writes the ticks and the Lua call stack (C functions too: the return hook
 * catches one as it returns) to FILE.PID, one line each; bench/luaprof.py sums them. Off unless
 * asked for: then the hooks carry no return mask and prof_ticks stays 0. */
static volatile sig_atomic_t prof_ticks;
static int prof_mask;   /* LUA_MASKRET while profiling, added to every hook set here */
static FILE *prof_file; /* opened at the first sample (in the process that takes it) */

static void prof_tick(int sig) {
  (void)sig;
  prof_ticks++;
}

static void prof_sample(lua_State *L) {
  int ticks = prof_ticks;
  prof_ticks = 0;
  if (!prof_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%ld", getenv("QUIRE_LUA_PROFILE"), (long)getpid());
    if (!(prof_file = fopen(path, "w"))) return;
  }
  /* Outermost frame first; the line is the innermost Lua function's current line. */
  enum { DEPTH = 64 };
  char frames[DEPTH][160];
  int n = 0, line = -1;
  lua_Debug ar;
  for (int level = 0; n < DEPTH && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Snl", &ar);
    if (ar.what[0] == 'C') {
      if (ar.name && strcmp(ar.name, "?") != 0) {
        snprintf(frames[n++], sizeof frames[0], "[C]%s", ar.name);
      } else {
        /* No name from the call site (called from C: a pcall'ed helper, a __close or __gc
         * metamethod): the symbol, else the library and offset (`nm -n` or addr2line name it). */
        lua_getinfo(L, "f", &ar);
        lua_CFunction cf = lua_tocfunction(L, -1);
        lua_pop(L, 1);
        Dl_info di;
        if (!cf || !dladdr((void *)cf, &di)) snprintf(frames[n++], sizeof frames[0], "[C]?");
        else if (di.dli_sname) snprintf(frames[n++], sizeof frames[0], "[C]%s", di.dli_sname);
        else {
          const char *lib = strrchr(di.dli_fname, '/');
          snprintf(frames[n++], sizeof frames[0], "[C]?%s+0x%lx", lib ? lib + 1 : di.dli_fname,
                   (unsigned long)((char *)cf - (char *)di.dli_fbase));
        }
      }
    } else {
      if (line < 0) line = ar.currentline;
      snprintf(frames[n++], sizeof frames[0], "%s:%d", ar.short_src, ar.linedefined);
    }
  }
  fprintf(prof_file, "%d ", ticks);
  for (int i = n - 1; i >= 0; i--) fprintf(prof_file, "%s%s", frames[i], i ? ";" : "");
  fprintf(prof_file, "\t%d\n", line);
}

static void prof_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (prof_ticks) prof_sample(L);
}

static void prof_start(lua_State *L) {
  if (!getenv("QUIRE_LUA_PROFILE")) return;
  prof_mask = LUA_MASKRET;
  struct sigaction sa = {0};
  sa.sa_handler = prof_tick;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval every = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_PROF, &every, NULL);
  lua_sethook(L, prof_hook, LUA_MASKCOUNT | LUA_MASKRET, 100);
}

/* The hook outside budgeted calls: none, or the profiler's. */
static void hook_idle(lua_State *L) {
  if (prof_mask)
    lua_sethook(L, prof_hook, LUA_MASKCOUNT | prof_mask, 100);
  else
    lua_sethook(L, NULL, 0, 0);
}

/* The count hook costs every Lua instruction a call into the hook machinery while it is set
 * (13% of an entry page's instructions, 18% of a list page's), however rarely it fires. So a
 * budgeted call starts without it: a CPU-time timer of this thread (set to the shortest grace
 * of the budgets running) sets it from its signal handler (lua_sethook may be called from one),
 * on the Lua thread running then (the call's, or a coroutine the plugin resumed: core.resume
 * keeps `running`). Calls that end in time, nearly all, never pay for it.
 * A thread without the timer (it could not be made) counts every call from the start. */
static _Thread_local lua_State *volatile running; /* the Lua thread running a budgeted call */
static _Thread_local volatile sig_atomic_t armed;  /* the timer fired: the hook is set */
static _Thread_local int budget_depth;            /* budgeted calls running on this thread */
static _Thread_local int exact_depth;             /* of them, those counted from the start */
static _Thread_local int timer_state;             /* 0 not made yet, 1 made, -1 failed */
static _Thread_local timer_t budget_timer;
static _Thread_local long long timer_ns;          /* what it was last set to: at least what is left */

static void arm_hook(int sig, siginfo_t *info, void *uctx) {
  (void)info;
  (void)uctx;
  (void)sig;
  if (budget_depth > 0 && running && !armed) {
    armed = 1;
    lua_sethook(running, budget_hook, LUA_MASKCOUNT | prof_mask, HOOK_STEP);
  }
}

static pthread_key_t timer_key;
static void delete_timer(void *timer) { timer_delete(*(timer_t *)timer); }

static void install_arm_hook(void) {
  pthread_key_create(&timer_key, delete_timer);
  struct sigaction sa = {0};
  sa.sa_sigaction = arm_hook;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGRTMIN + 2, &sa, NULL);
}

/* This thread's CPU-time timer, made at its first budgeted call; 0 when there is none. */
static int budget_timer_ready(void) {
  if (timer_state == 0) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_arm_hook);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGRTMIN + 2;
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid); /* (sigev_notify_thread_id: glibc 2.41 on) */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 2);
    timer_state = pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0 &&
                  timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &budget_timer) == 0 ? 1 : -1;
    if (timer_state == 1) pthread_setspecific(timer_key, &budget_timer); /* deleted at the thread's end */
  }
  return timer_state == 1;
}

/* Sets the timer to fire after ns of the thread's CPU time (0: never); 0 when it could not. */
static int set_budget_timer(long long ns) {
  struct itimerspec t = {{0, 0}, {(time_t)(ns / 1000000000), (long)(ns % 1000000000)}};
  if (timer_settime(budget_timer, 0, &t, NULL) != 0) return 0;
  timer_ns = ns;
  return 1;
}

/* A nested call's grace is its own budget's when that is shorter than what the timer has left
 * (a request's call has ten times a plugin's): one look at the timer for a request, at its
 * first plugin call, as the later ones have that budget too. 0 when the timer failed. */
static int shorten_budget_timer(long long ns) {
  struct itimerspec left;
  if (timer_gettime(budget_timer, &left) != 0) return 0;
  long long l = (long long)left.it_value.tv_sec * 1000000000 + left.it_value.tv_nsec;
  if (l == 0 || l <= ns) { /* fired already (armed), or fires sooner */
    timer_ns = ns;
    return 1;
  }
  return set_budget_timer(ns);
}

/* The state's allocator: counts bytes and refuses growth past the cap (Lua then raises a memory
 * error). Shrinking never fails, as Lua requires. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sandbox_state *s = ud;
  if (!ptr) osize = 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= osize;
    return NULL;
  }
  if (s->cap && nsize > osize && s->used + (nsize - osize) > s->cap) {
    if (s->active && !s->over_cap && s->main) {
      s->over_cap = 1; /* make the hook fire at once so a pcall cannot swallow the failure */
      lua_sethook(s->main, budget_hook, LUA_MASKCOUNT | prof_mask, 1);
      /* (and on a coroutine running, which may have no hook: see core.resume) */
      if (budget_depth > 0 && running && running != s->main && state_of(running) == s)
        lua_sethook(running, budget_hook, LUA_MASKCOUNT | prof_mask, 1);
    }
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (!p) return nsize <= osize ? ptr : NULL;
  s->used = s->used - osize + nsize;
  return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
  if (prof_ticks) prof_sample(L);
  if (ar->event != LUA_HOOKCOUNT) return; /* the profiler's return events */
  sandbox_state *s = state_of(L);
  if (!s->active) {
    /* A coroutine made inside a budget, resumed outside one: it keeps the hook (at its usual
     * rate), so when it is resumed inside a budget again it is counted there. */
    if (lua_gethookcount(L) != HOOK_STEP) lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, HOOK_STEP);
    return;
  }
  if (s->over_cap) {
    lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, 1);
    luaL_error(L, "%s exceeded the memory cap of %d MiB (limits.lua_memory)", s->label,
               (int)(s->cap >> 20));
  }
  if (!s->tripped) {
    s->remaining -= lua_gethookcount(L);
    if (s->remaining > 0) return;
    s->tripped = 1;
  }
  /* Once tripped, fire on every instruction: a pcall inside the plugin catches the error, and
   * the very next instruction raises it again, until the budgeted call has unwound. */
  budget_error(L, s);
}

static int budget_error(lua_State *L, sandbox_state *s) {
  lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, 1);
  return luaL_error(L, "%s exceeded its instruction budget of %I instructions (limits.instructions)", s->label,
                    (lua_Integer)s->budget);
}

long long qr_sandbox_budget_left(lua_State *L) {
  sandbox_state *s = state_of(L);
  if (!s->active) return LLONG_MAX;
  return s->tripped || s->over_cap ? 0 : s->remaining;
}

void qr_sandbox_charge(lua_State *L, long long units) {
  sandbox_state *s = state_of(L);
  if (!s->active || units <= 0) return;
  if (!s->tripped) {
    s->remaining -= units;
    if (s->remaining > 0) return;
    s->tripped = 1;
  }
  budget_error(L, s);
}

/* core.budget_exhausted() -> true once the running budgeted call ran out of instructions or
 * memory: its error is on its way up and no plugin code (a message handler) may run. */
static int l_budget_exhausted(lua_State *L) {
  sandbox_state *s = state_of(L);
  lua_pushboolean(L, s->active && (s->tripped || s->over_cap));
  return 1;
}

/* core.pattern_steps(n): the base of the pattern step limit (limits.pattern_steps). */
static int l_pattern_steps(lua_State *L) {
  qr_pattern_set_steps((long long)luaL_checkinteger(L, 1));
  return 0;
}

/* Error message handler for budgeted calls: keeps strings and the core's error objects (tables
 * with a string `message`), and never calls a plugin's __tostring, which could loop or throw. */
static int budget_msgh(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING) return 1;
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_pushliteral(L, "message");
    if (lua_rawget(L, 1) == LUA_TSTRING) {
      lua_pop(L, 1);
      return 1;
    }
  }
  lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  return 1;
}

/* Runs the function at msgh + 2 (label's string at msgh + 1, kept there: the hook's messages use
 * it) with the nargs arguments above it under label's instruction budget, budget_msgh at msgh.
 * Returns NULL with nresults results (LUA_MULTRET: all) from msgh + 2 on, or what stopped it
 * ("instructions", "memory" or "error") with the message and the original error there. */
static const char *budgeted(lua_State *L, const char *label, lua_Integer budget, int nargs, int nresults,
                            int msgh) {
  sandbox_state *s = state_of(L);
  sandbox_state saved = *s;
  s->label = label;
  s->active = 1;
  s->budget = budget;
  s->remaining = budget;
  s->tripped = 0;
  s->over_cap = 0;
  /* Counted from the start when the budget is small or there is no timer; else the outermost
   * call arms the timer, and a nested call shortens it to its own grace, unless it fired. */
  int exact = budget < EXACT_BELOW || !budget_timer_ready();
  lua_State *was_running = running;
  running = L;
  budget_depth++;
  if (!exact && !exact_depth && !armed) { /* (1 ns an instruction; a timer that fails: exact) */
    if (budget_depth == 1)
      exact = !set_budget_timer(budget);
    else if (budget < timer_ns)
      exact = !shorten_budget_timer(budget);
  }
  exact_depth += exact;
  if (exact_depth || armed) lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, HOOK_STEP);
  int rc = lua_pcall(L, nargs, nresults, msgh);
  int tripped = s->tripped, over = s->over_cap || rc == LUA_ERRMEM;
  exact_depth -= exact;
  running = was_running;
  if (--budget_depth == 0) { /* (first: the timer's signal now does nothing) */
    if (timer_ns) set_budget_timer(0);
    armed = 0;
  }
  s->active = saved.active;
  s->budget = saved.budget;
  s->remaining = saved.remaining - (budget - (s->remaining > 0 ? s->remaining : 0));
  s->tripped = saved.tripped;
  s->over_cap = saved.over_cap;
  s->label = saved.label;
  /* The hook costs every Lua instruction a check, so it is on only while a budget counts. */
  if (s->active && (armed || exact_depth || s->tripped || s->over_cap))
    lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, (s->tripped || s->over_cap) ? 1 : HOOK_STEP);
  else
    hook_idle(L);
  if (s->active && armed) /* (the timer fired while the hook was taken off just above) */
    lua_sethook(L, budget_hook, LUA_MASKCOUNT | prof_mask, (s->tripped || s->over_cap) ? 1 : HOOK_STEP);
  /* A pcall or xpcall in tail position catches the budget error and returns straight to us with
   * no instruction left for the hook to raise it again: the call still failed. */
  if (rc == LUA_OK && (tripped || over)) {
    lua_settop(L, msgh + 1);
    if (tripped)
      lua_pushfstring(L, "%s exceeded its instruction budget of %I instructions (limits.instructions)", label,
                      (lua_Integer)budget);
    else
      lua_pushfstring(L, "%s exceeded the memory cap of %d MiB (limits.lua_memory)", label, (int)(s->cap >> 20));
    rc = LUA_ERRRUN;
  }
  if (rc == LUA_OK) return NULL;
  if (over) lua_gc(L, LUA_GCCOLLECT); /* give the garbage back so the state stays usable */
  if (rc == LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    lua_pushfstring(L, "%s exceeded the memory cap of %d MiB (limits.lua_memory)", label, (int)(s->cap >> 20));
    lua_insert(L, -2);
  } else {
    lua_pushvalue(L, -1);
  }
  return tripped ? "instructions" : over ? "memory" : "error";
}

/* core.budget_call(label, instructions, fn, ...) -> true, results... | false, message, kind, err
 * kind is "instructions", "memory" or "error"; err is the original error value. */
static int l_budget_call(lua_State *L) {
  const char *label = luaL_checkstring(L, 1);
  lua_Integer budget = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 3;
  lua_pushcfunction(L, budget_msgh); /* label, budget, msgh, label, fn, args... */
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  lua_remove(L, 2); /* label, msgh, label, fn, args... */
  const char *kind = budgeted(L, label, budget, nargs, LUA_MULTRET, 2);
  if (!kind) {
    int nres = lua_gettop(L) - 3;
    lua_pushboolean(L, 1);
    lua_replace(L, 3);
    return nres + 1;
  }
  lua_pushboolean(L, 0); /* ..., message, err -> false, message, kind, err */
  lua_replace(L, 3);
  lua_pushstring(L, kind);
  lua_insert(L, 5);
  return 4;
}

/* core.budget_filter(chain, instructions, value, ...) -> true, value | false, i, kind, message, err
 * A filter's pipeline in one call: chain is { label1, fn1, label2, fn2, ... }; each fn runs as
 * core.budget_call(label, instructions, fn, value, ...) would, given the value the one before
 * returned (its first result). It stops at the i-th when that fails (kind as budget_call's) or
 * returns a value of another type than it was given (kind "type"; message: the type's name,
 * "nothing" for nil). One call from Lua for the pipeline: a Lua wrapper per handler cost more
 * than its budget's bookkeeping (~5 K instructions to a handler, the filter's own work apart). */
static int l_budget_filter(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer budget = luaL_checkinteger(L, 2);
  luaL_checkany(L, 3);
  int nextra = lua_gettop(L) - 3, vtype = lua_type(L, 3);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1) / 2;
  luaL_checkstack(L, nextra + 8, "too many arguments");
  lua_pushcfunction(L, budget_msgh);
  int msgh = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, 2 * i - 1);
    const char *label = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (lua_rawgeti(L, 1, 2 * i) != LUA_TFUNCTION || !label)
      return luaL_error(L, "budget_filter: the chain holds label, function pairs");
    for (int a = 3; a <= 3 + nextra; a++) lua_pushvalue(L, a);
    const char *kind = budgeted(L, label, budget, 1 + nextra, 1, msgh);
    if (kind) { /* msgh, label, message, err -> false, i, kind, message, err */
      lua_pushboolean(L, 0);
      lua_pushinteger(L, i);
      lua_pushstring(L, kind);
      lua_rotate(L, msgh + 2, 3);
      return 5;
    }
    int t = lua_type(L, -1);
    /* (by name, as type() compares: light and full userdata are both "userdata") */
    if (t != vtype && strcmp(lua_typename(L, t), lua_typename(L, vtype)) != 0) {
      lua_pushboolean(L, 0);
      lua_pushinteger(L, i);
      lua_pushliteral(L, "type");
      lua_pushstring(L, t == LUA_TNIL ? "nothing" : lua_typename(L, t));
      return 4;
    }
    lua_replace(L, 3);
    lua_settop(L, msgh);
  }
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 3);
  return 2;
}

/* Gives T, a Lua thread about to run or back from running another, the counting hook when the
 * budgeted call running counts now (T may have been made before the hook was set). */
static void hook_counting(lua_State *T) {
  sandbox_state *s = state_of(T);
  if (budget_depth > 0 && s->active && (armed || exact_depth || s->tripped || s->over_cap))
    lua_sethook(T, budget_hook, LUA_MASKCOUNT | prof_mask, (s->tripped || s->over_cap) ? 1 : HOOK_STEP);
}

/* core.resume(co, ...) -> as coroutine.resume (the plugins' coroutine.resume and wrap use it):
 * inside a budgeted call, co is the Lua thread the budget timer sets the hook on while it runs,
 * and gets the hook when it is set already (it may have been made before). */
static int l_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  int narg = lua_gettop(L) - 1, nres;
  if (!lua_checkstack(co, narg)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  lua_xmove(L, co, narg);
  lua_State *was_running = running;
  if (budget_depth > 0) running = co;
  hook_counting(co);
  int status = lua_resume(co, L, narg, &nres);
  running = was_running;
  hook_counting(L); /* (the timer may have fired, or the budget run out, while co ran) */
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    lua_xmove(co, L, nres);
    lua_pushboolean(L, 1);
    lua_insert(L, -(nres + 1));
    return nres + 1;
  }
  lua_xmove(co, L, 1); /* the error */
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

/* core.close(co) -> as coroutine.close (the plugins' use it), which runs co's pending __close
 * handlers on co: the budget timer reaches co meanwhile, as for core.resume. */
static int l_close(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  lua_State *was_running = running;
  if (budget_depth > 0) running = co;
  hook_counting(co);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1)); /* the standard coroutine.close */
  lua_insert(L, 1);
  int rc = lua_pcall(L, 1, LUA_MULTRET, 0);
  running = was_running;
  hook_counting(L);
  if (rc != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

/* core.memory(cap_bytes?) -> bytes in use, cap; sets the cap when given (0: unlimited). */
static int l_memory(lua_State *L) {
  sandbox_state *s = state_of(L);
  if (!lua_isnoneornil(L, 1)) s->cap = (size_t)luaL_checkinteger(L, 1);
  lua_pushinteger(L, (lua_Integer)s->used);
  lua_pushinteger(L, (lua_Integer)s->cap);
  return 2;
}

/* package.searchers entry: finds "quire.x" among the embedded core Lua files. */
static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const qr_embedded_t *f = qr_embedded_lua; f->name; f++) {
    if (strcmp(f->name, name) != 0) continue;
    char chunk[128];
    snprintf(chunk, sizeof chunk, "@lua/%s%s.lua", name, strchr(name, '.') ? "" : "/init");
    for (char *p = chunk + 5; *p; p++)
      if (*p == '.' && strcmp(p, ".lua") != 0) *p = '/';
    /* Core modules are embedded as bytecode (cmake/luabc.c); plugin code is only ever text. */
    if (luaL_loadbufferx(L, f->data, f->len, chunk, "b") != LUA_OK) return lua_error(L);
    lua_pushstring(L, chunk + 1);
    return 2;
  }
  lua_pushfstring(L, "no embedded core module '%s'", name);
  return 1;
}

/* Pushes the folder of the bundled plugins: QUIRE_PLUGINS_RELDIR from the binary's own folder
 * (bin/ -> ../share/quire/plugins once installed, wherever the tree was copied). Only a binary
 * still inside the build tree it was made in, which has no installed tree beside it, falls back
 * to the source tree's plugins/. Otherwise the installed location is given even when missing, so
 * "plugin not found" names where it was expected. */
static void push_bundled_plugins(lua_State *L) {
  char exe[PATH_MAX], build[PATH_MAX], found[PATH_MAX];
  size_t n = sizeof exe;
  if (uv_exepath(exe, &n) != 0) {
    lua_pushliteral(L, QUIRE_SOURCE_DIR "/plugins");
    return;
  }
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  const char *dir = lua_pushfstring(L, "%s/%s", exe, QUIRE_PLUGINS_RELDIR);
  struct stat st;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (realpath(dir, found)) {
      lua_pop(L, 1);
      lua_pushstring(L, found);
    }
    return;
  }
  if (realpath(QUIRE_BUILD_DIR, build)) {
    size_t len = strlen(build);
    if (strncmp(exe, build, len) == 0 && (exe[len] == '/' || exe[len] == '\0')) {
      lua_pop(L, 1);
      lua_pushliteral(L, QUIRE_SOURCE_DIR "/plugins");
    }
  }
}

static int open_core(lua_State *L) {
  lua_newtable(L);
  qr_lua_store_open(L);
  qr_lua_pg_open(L);
  qr_lua_content_open(L);
  qr_lua_os_open(L);
  qr_lua_router_open(L);
  qr_lua_crypto_open(L);
  qr_lua_server_open(L);
  qr_lua_template_open(L);
  qr_lua_markdown_open(L);
  qr_lua_html_open(L);
  qr_lua_related_open(L);
  qr_lua_regex_open(L);
  qr_lua_media_open(L);
  qr_lua_multipart_open(L);
  qr_lua_tz_open(L);
  qr_lua_gzip_open(L);
  qr_lua_brotli_open(L);
  qr_lua_xxhash_open(L);
  qr_lua_purge_open(L);
  lua_pushcfunction(L, l_budget_call);
  lua_setfield(L, -2, "budget_call");
  lua_pushcfunction(L, l_budget_filter);
  lua_setfield(L, -2, "budget_filter");
  lua_pushcfunction(L, l_memory);
  lua_setfield(L, -2, "memory");
  lua_pushcfunction(L, l_resume);
  lua_setfield(L, -2, "resume");
  lua_getglobal(L, "coroutine");
  lua_getfield(L, -1, "close");
  lua_pushcclosure(L, l_close, 1);
  lua_setfield(L, -3, "close");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_budget_exhausted);
  lua_setfield(L, -2, "budget_exhausted");
  lua_pushcfunction(L, l_pattern_steps);
  lua_setfield(L, -2, "pattern_steps");
  lua_getfield(L, LUA_REGISTRYINDEX, QR_PATTERN_STOCK);
  lua_setfield(L, -2, "stock_patterns");
  lua_pushliteral(L, QUIRE_VERSION);
  lua_setfield(L, -2, "version");
  push_bundled_plugins(L);
  lua_setfield(L, -2, "bundled_plugins");
  return 1;
}

lua_State *qr_sandbox_open(void) {
  sandbox_state *s = qr_xcalloc(1, sizeof *s);
  lua_State *L = lua_newstate(sandbox_alloc, s);
  if (!L) {
    free(s);
    return NULL;
  }
  s->main = L;
  *(sandbox_state **)lua_getextraspace(L) = s;
  lua_atpanic(L, panic);
  lua_setwarnf(L, NULL, NULL);
  /* Generational collection suits request work: most garbage (views, rendered pages) dies
   * young. Measured on the template benchmark: +38% renders/s over the incremental mode. */
  lua_gc(L, LUA_GCGEN, 0, 0);
  luaL_openlibs(L);
  qr_pattern_install(L); /* before anything copies the string table */
  /* Insert the embedded searcher right after the preload searcher. */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = n; i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_embedded);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, open_core);
  lua_setfield(L, -2, "quire.core");
  lua_pop(L, 2);
  prof_start(L);
  return L;
}

void qr_sandbox_close(lua_State *L) {
  if (!L) return;
  sandbox_state *s = state_of(L);
  lua_close(L);
  free(s);
}

int qr_sandbox_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int qr_sandbox_pcall(lua_State *L, int nargs, int nresults, int verbose) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, qr_sandbox_traceback);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (rc != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error)";
    if (!verbose) {
      const char *tb = strstr(msg, "\nstack traceback:");
      fprintf(stderr, "quire: %.*s\n", tb ? (int)(tb - msg) : (int)strlen(msg), msg);
    } else {
      fprintf(stderr, "quire: %s\n", msg);
    }
    lua_pop(L, 1);
  }
  return rc;
}
