/*
 * pool: the master process (see pool.h).
 *
 * DESIGN
 *
 * The master blocks every signal it cares about and takes them one at a
 * time with sigtimedwait(): no handler, no race between a signal and the
 * loop.  Children are in slots (slot 0: the broker, when there is one;
 * 1..N: workers); a slot is running (pid > 0) or waiting for its restart
 * time.  The master never touches ZeroMQ or LMDB after fork: before any
 * fork it opens the store once, to fail fast on a bad directory, and the
 * pacing file, so that the file and its disk blocks exist before a disk
 * fills up; it closes both.  It keeps two mappings its children inherit:
 * the counters and the velocity table (shared memory, loaded from the data
 * directory at start, saved there every POOL_VELOCITY_SAVE_MS and once all
 * children have exited).
 *
 * Each producer connection is a descriptor of the process that binds the
 * ingest endpoint, and ZeroMQ bounds their number by nothing else
 * (listener.h): the master raises its soft descriptor limit to the hard one
 * before any fork (as nginx's worker_rlimit_nofile and Redis's maxclients
 * do), and the children inherit it.
 *
 * Reload (SIGHUP).  The master builds the configuration again from the
 * same files and flags (config_build(): defaults, files, flags, every
 * check, the templates loaded), then checks what the workers would build
 * of it (dispatch_check(): each provider, a pacing slot for it).  If
 * anything fails, the error is logged and nothing changes: the pool goes
 * on with the configuration in force.  An option only a
 * start applies (config_restart_only(): the store, the ingest endpoint and
 * what the broker was started with, the number of workers, the monitor's
 * socket) keeps its value in force, with a warning that names it, and the
 * rest applies: a reload is refused for an error, never for a change.
 * Then the store's pauses are read again into the pacing file, the new
 * configuration becomes the one in force (a new generation), and the
 * workers are replaced one at a time: SIGTERM, the worker's graceful stop
 * (its intake stops, it commits and acks what it took, its requests in
 * flight finish and their outcomes are committed, its queue goes back to
 * ready), its exit, and at once a new worker with the new configuration;
 * the next one is stopped once the new one has run POOL_RELOAD_SETTLE_MS.
 * nginx replaces all its workers at once; here a worker's slot (its ipc
 * endpoint, its counter shard) belongs to one process at a time, and one
 * at a time keeps the others sending.  A graceful stop leaves no lease
 * behind, so nothing in flight is lost or sent twice; with one worker,
 * sending pauses while it restarts.  A new worker that cannot start stops
 * the roll there (the master restarts it as any child that dies), and the
 * workers not yet replaced keep sending with the configuration they have.
 * A SIGHUP during a roll reads the configuration again: if it is good, the
 * roll goes on to the newest, replacing again workers started with an
 * older one.
 *
 * Intake during a roll: the worker that binds the ingest endpoint (no
 * broker) stops reading it and closes it as it exits; until the new one
 * binds it, producers' sends wait and they resend what got no ack, as for
 * any restart of that worker.  Behind a broker, the broker's intake is
 * paused (SIGUSR1) while an ingesting worker drains, or its drain would
 * not end while requests keep coming, and resumed (SIGUSR2) once it has
 * exited; producers' requests wait in their queues meanwhile.  The broker
 * and the monitor are not restarted: their settings are restart-only but
 * the log level and format, which a reload changes for the master and the
 * workers.
 *
 * Pacing: each process gives the limits to every pace_take(); the slot's
 * state (bucket, holds, circuit, adaptive rate) is shared and stays.  Each
 * new worker publishes its provider's new limit into the slot
 * (pace_publish_limits(): what smsqctl and the metrics show) and, with a
 * new endpoint or credentials, ends a misconfiguration found with the old
 * ones (pace_config()).  During a roll, replaced workers pace at the new
 * limit and the others at the old: a lowered limit holds for the whole
 * pool once the roll is done, seconds later.
 */
#include "worker/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/counters.h"
#include "store/datadir.h"
#include "store/store.h"
#include "worker/broker.h"
#include "store/pace.h"
#include "store/velocity.h"
#include "watch/monitor.h"
#include "outcome/push.h"
#include "outcome/receive.h"
#include "worker/dispatch.h"
#include "worker/worker.h"

#define POOL_TICK_MS 100
#define POOL_LOCK_WAIT_MS 5000 /* wait for a dying pool's lock */
#define POOL_BROKER_STOP_MS 3000
#define POOL_VELOCITY_SAVE_MS (5 * 60 * 1000) /* the velocity counts saved this often */
#define POOL_BACKEND_MAX 100  /* ipc path limit (sun_path) with margin */
#define POOL_RELOAD_SETTLE_MS 500 /* a reload stops the next worker once the new one
				     has run this long */

struct slot {
	pid_t pid;             /* running child, or 0 */
	int64_t restart_at_ms; /* when to restart (mono), if pid == 0 */
	int64_t started_ms;    /* when it was started (mono) */
	unsigned gen;          /* the configuration generation it was started with */
	int reloading;         /* stopped by a reload: restarted at once, not counted */
	int64_t kill_at_ms;    /* reloading: SIGKILL if it still runs then (mono) */
	long stop_budget_ms;   /* pool.shutdown_timeout_ms it was started with (its
				  own stop takes up to 3/4 of it) */
};

struct pool {
	struct config *cfg;         /* in force (ours; replaced by a reload) */
	const struct config_source *src; /* where cfg came from (borrowed) */
	unsigned gen;               /* cfg's generation: each accepted reload adds one */
	int rolling;                /* the worker a reload is replacing, or 0 */
	int roll_pending;           /* workers to replace since a reload (say when done) */
	char **backends;            /* [i - 1]: ingesting worker i's ipc endpoint, which
				       the broker connects to (with a broker) */
	int n_backends;             /* ingesting workers (with a broker) */
	struct slot *slots;         /* [0] broker, [1..n] workers, [n + 1] the monitor */
	int n_workers;              /* workers */
	int last_slot;              /* the last slot: workers, then the monitor, then the
				       outcome pusher, each when there is one */
	int monitor_slot;           /* the monitor's slot, or 0: none */
	int pusher_slot;            /* the outcome pusher's slot, or 0: none */
	int receiver_slot;          /* the receipt endpoint's slot, or 0: none */
	counters *ctr;              /* the shared counters, mapped before any fork (children
				       inherit the mapping and count into their own shard) */
	velocity_table *vt;         /* the velocity counts, the same way (shared memory) */
	int64_t velocity_save_ms;   /* when to save them next (monotonic) */
	int has_broker;             /* more than one worker takes events */
	int stopping;               /* graceful stop under way */
	int64_t stop_deadline_ms;   /* then SIGKILL */
	int broker_told_stop;       /* SIGTERM sent to the broker */
};

/* This process logs as role, with cfg's level and format. */
static void set_log(const struct config *cfg, const char *role)
{
	enum log_level lvl = LOG_LEVEL_INFO;
	enum log_format fmt = LOG_FORMAT_TEXT;

	(void)log_level_parse(cfg->log_level, &lvl);
	(void)log_format_parse(cfg->log_format, &fmt);
	log_init(role, lvl);
	log_set_format(fmt);
}

static volatile sig_atomic_t broker_pause, broker_stop, broker_reload;

static void on_broker_signal(int sig)
{
	if (sig == SIGTERM)
		broker_stop = 1;
	else if (sig == SIGHUP) /* a reload: the producer keys are read again */
		broker_reload = 1;
	else
		broker_pause = sig != SIGUSR2; /* SIGUSR2: a reload resumes intake */
}

static int run_broker(struct pool *p)
{
	struct broker_opts bo = {
		.frontend = p->cfg->ingest_endpoint,
		.backends = (const char *const *)p->backends,
		.n_backends = p->n_backends,
		.hwm = (int)p->cfg->ingest_hwm,
		.read_ahead = INGEST_READ_AHEAD < p->cfg->ingest_hwm ? INGEST_READ_AHEAD
								  : (int)p->cfg->ingest_hwm,
		.worker_queue = p->cfg->ingest_batch_max < p->cfg->ingest_hwm
					? (int)p->cfg->ingest_batch_max : (int)p->cfg->ingest_hwm,
	};
	struct auth_opts ao = {
		.secret_key = p->cfg->ingest_curve_secret,
		.producers_dir = p->cfg->ingest_curve_producers,
		.refused = &counters_mine(p->ctr)->producers_refused,
	};
	struct sigaction sa;

	set_log(p->cfg, "broker");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_broker_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	/* SIGINT from a terminal reaches the whole group: the broker only
	 * pauses, the master decides when it stops. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (p->cfg->ingest_curve_secret[0] != '\0')
		bo.auth = &ao;
	return broker_run(&bo, &broker_pause, &broker_stop, &broker_reload) == 0 ? 0 : 1;
}

static int run_monitor(struct pool *p)
{
	struct monitor_opts mo = {
		.dir = p->cfg->store_dir,
		.listen = p->cfg->metrics_listen,
		.log_level = LOG_LEVEL_INFO,
		.log_format = LOG_FORMAT_TEXT,
	};

	(void)log_level_parse(p->cfg->log_level, &mo.log_level);
	(void)log_format_parse(p->cfg->log_format, &mo.log_format);
	return monitor_run(&mo);
}

static int run_pusher(struct pool *p, struct counters_data *ctr)
{
	struct push_opts po = {
		.dir = p->cfg->store_dir,
		.url = p->cfg->outcomes_url,
		.secret = p->cfg->outcomes_secret,
		.batch = (size_t)p->cfg->outcomes_batch,
		.timeout_ms = p->cfg->outcomes_timeout_ms,
		.counters = ctr,
		.log_level = LOG_LEVEL_INFO,
		.log_format = LOG_FORMAT_TEXT,
	};

	(void)log_level_parse(p->cfg->log_level, &po.log_level);
	(void)log_format_parse(p->cfg->log_format, &po.log_format);
	return push_run(&po);
}

static int run_receiver(struct pool *p, struct counters_data *ctr)
{
	struct provider_conf confs[CONFIG_MAX_PROVIDERS];
	struct receive_opts ro = {
		.dir = p->cfg->store_dir,
		.seal_key = CONFIG_STORE_KEY(p->cfg),
		.listen = p->cfg->receipts_listen,
		.token = p->cfg->receipts_token,
		.providers = confs,
		.n_providers = p->cfg->n_providers,
		.max_bytes = (size_t)p->cfg->receipts_max_bytes,
		.expect_s = p->cfg->receipts_expect_s,
		.counters = ctr,
		.gauges = counters_gauges(p->ctr),
		.log_level = LOG_LEVEL_INFO,
		.log_format = LOG_FORMAT_TEXT,
	};

	for (int i = 0; i < p->cfg->n_providers; i++) {
		confs[i] = p->cfg->providers[i].conf;
		if (provider_kind_parse(p->cfg->providers[i].type, &confs[i].kind) != 0) {
			log_error("receipts: provider %s: unknown type '%s'", confs[i].name,
				  p->cfg->providers[i].type); /* config_check() refuses it */
			return 1;
		}
	}
	(void)log_level_parse(p->cfg->log_level, &ro.log_level);
	(void)log_format_parse(p->cfg->log_format, &ro.log_format);
	return receive_run(&ro);
}

static void spawn(struct pool *p, int i)
{
	pid_t master = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		p->slots[i].restart_at_ms = clock_mono_ms() + p->cfg->pool_restart_delay_ms;
		return;
	}
	if (pid == 0) {
		sigset_t none;

		/* The master's signals are the master's: a SIGHUP to the whole
		 * group (a terminal's) must not end a child.  The broker's
		 * SIGUSR1 and SIGUSR2, blocked since the fork, are ignored until
		 * it sets its handlers. */
		signal(SIGHUP, SIG_IGN);
		signal(SIGUSR1, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != master)
			_exit(1);
		counters_set_shard(p->ctr, i);
		_exit(i == 0 ? run_broker(p)
		      : i == p->monitor_slot ? run_monitor(p)
		      : i == p->pusher_slot ? run_pusher(p, counters_mine(p->ctr))
		      : i == p->receiver_slot ? run_receiver(p, counters_mine(p->ctr))
		      : worker_run(p->cfg, i,
				   p->has_broker && i <= p->n_backends ? p->backends[i - 1]
									: p->cfg->ingest_endpoint,
				   !p->has_broker, i == p->n_workers, counters_mine(p->ctr), p->vt));
	}
	if (p->slots[i].started_ms != 0 && !p->slots[i].reloading)
		counters_add(&counters_mine(p->ctr)->worker_restarts, 1);
	p->slots[i].pid = pid;
	p->slots[i].started_ms = clock_mono_ms();
	p->slots[i].gen = p->gen;
	p->slots[i].reloading = 0;
	p->slots[i].stop_budget_ms = p->cfg->pool_shutdown_timeout_ms;
	if (i > p->n_workers)
		log_info("started %s pid=%ld",
			 i == p->monitor_slot ? "monitor"
			 : i == p->pusher_slot ? "outcome pusher" : "receipt endpoint",
			 (long)pid);
	else
		log_info("started %s%.0d pid=%ld", i == 0 ? "broker" : "worker-", i, (long)pid);
}

static const char *slot_name(const struct pool *p, int i, char *buf, size_t len)
{
	if (i == 0)
		snprintf(buf, len, "broker");
	else if (i == p->monitor_slot)
		snprintf(buf, len, "monitor");
	else if (i == p->pusher_slot)
		snprintf(buf, len, "outcome pusher");
	else if (i == p->receiver_slot)
		snprintf(buf, len, "receipt endpoint");
	else
		snprintf(buf, len, "worker-%d", i);
	return buf;
}

/* Whether worker i takes events through the broker (its intake goes
 * through the broker's). */
static int behind_broker(const struct pool *p, int i)
{
	return p->has_broker && i >= 1 && i <= p->n_backends;
}

/* Worker i, stopped by a reload, exited: restart it now (the main loop
 * does), and resume the broker's intake if it was paused for it. */
static void reaped_for_reload(struct pool *p, int i, const char *name, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warn("%s pid=%ld killed by signal %d during its reload stop", name, (long)pid,
			 WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warn("%s pid=%ld exited with status %d during its reload stop", name,
			 (long)pid, WEXITSTATUS(status));
	else
		log_info("reload: %s pid=%ld stopped", name, (long)pid);
	p->slots[i].restart_at_ms = 0;
	if (behind_broker(p, i) && p->slots[0].pid > 0)
		kill(p->slots[0].pid, SIGUSR2);
}

static void reap(struct pool *p)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i <= p->last_slot; i++) {
			char name[32];

			if (p->slots[i].pid != pid)
				continue;
			p->slots[i].pid = 0;
			slot_name(p, i, name, sizeof(name));
			if (p->slots[i].reloading && !p->stopping) {
				reaped_for_reload(p, i, name, pid, status);
				continue;
			}
			if (WIFSIGNALED(status))
				log_warn("%s pid=%ld killed by signal %d", name, (long)pid,
					 WTERMSIG(status));
			else if (WEXITSTATUS(status) != 0 || !p->stopping)
				log_warn("%s pid=%ld exited with status %d", name, (long)pid,
					 WEXITSTATUS(status));
			if (!p->stopping) {
				p->slots[i].restart_at_ms =
					clock_mono_ms() + p->cfg->pool_restart_delay_ms;
				log_info("%s will restart in %ld ms", name,
					 p->cfg->pool_restart_delay_ms);
			}
		}
	}
}

static void signal_all(struct pool *p, int from, int sig)
{
	for (int i = from; i <= p->last_slot; i++)
		if (p->slots[i].pid > 0)
			kill(p->slots[i].pid, sig);
}

static int running(const struct pool *p, int from)
{
	int n = 0;

	for (int i = from; i <= p->last_slot; i++)
		n += p->slots[i].pid > 0;
	return n;
}

/* Exclusive lock on <dir>/pool.lock for the life of the master (inherited
 * fds are closed in children by O_CLOEXEC; the lock stays with the master). */
static int lock_dir(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd;

	char err[512];

	snprintf(path, sizeof(path), "%s/%s", dir, DATADIR_POOL_LOCK);
	fd = datadir_open(dir, DATADIR_POOL_LOCK, O_RDWR | O_CREAT, 0600, err, sizeof(err));
	if (fd < 0) {
		log_error("%s", err);
		return -1;
	}
	/* A pool killed just before (kill -9, then a restart) may still be
	 * exiting: its processes hold the lock until their memory is torn down.
	 * Wait a little for it rather than fail a supervisor's restart. */
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; i++) {
		if (errno != EWOULDBLOCK || i == POOL_LOCK_WAIT_MS / 50) {
			log_error("another smsq-worker pool is running on %s", dir);
			close(fd);
			return -1;
		}
		if (i == 0)
			log_info("waiting up to %d ms for the pool that holds %s to exit",
				 POOL_LOCK_WAIT_MS, dir);
		usleep(50 * 1000);
	}
	return fd;
}

/* The data directory: created and checked (datadir.h), its absolute path
 * in absdir (PATH_MAX bytes) and the broker's socket in it.  Returns 0 or
 * -1 (said). */
static int prepare_dir(struct pool *p, char *absdir)
{
	char err[512];

	if (datadir_prepare(p->cfg->store_dir, 1, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (realpath(p->cfg->store_dir, absdir) == NULL) {
		log_error("%s: %s", p->cfg->store_dir, strerror(errno));
		return -1;
	}
	/* Each worker that takes events binds an endpoint of its own, which the
	 * broker connects to (broker.h says why). */
	p->n_backends = !p->has_broker ? 0
			: p->cfg->ingest_workers == 0 || p->cfg->ingest_workers > p->n_workers
			? p->n_workers : (int)p->cfg->ingest_workers;
	p->backends = xcalloc((size_t)p->n_backends + 1, sizeof(*p->backends));
	for (int i = 0; i < p->n_backends; i++) {
		p->backends[i] = xmalloc(POOL_BACKEND_MAX + 1);
		if (snprintf(p->backends[i], POOL_BACKEND_MAX + 1, "ipc://%s/ingest-%d.ipc", absdir,
			     i + 1) > POOL_BACKEND_MAX) {
			log_error("data directory path %s is too long for a local socket (max ~%d "
				  "bytes)", absdir, POOL_BACKEND_MAX - 24);
			return -1;
		}
	}
	return 0;
}

static void backends_free(struct pool *p)
{
	for (int i = 0; p->backends != NULL && i < p->n_backends; i++)
		free(p->backends[i]);
	free(p->backends);
	p->backends = NULL;
}

/* The store's pauses into the pacing file, which may have lost them (a
 * reboot starts it afresh) or kept one the store no longer has.  Each flag
 * is written once, to what it must be: at a reload, workers read them
 * meanwhile, and a paused provider must never look resumed for a moment. */
static void apply_pauses(pace *pc, const struct store_pause *paused, int n)
{
	int want[PACE_MAX_SLOTS + 1] = { 0 }; /* [0] all sending, [1 + slot] a provider */

	for (int i = 0; i < n; i++) {
		int all = strcmp(paused[i].name, STORE_PAUSE_ALL) == 0;
		int slot = all ? -1 : pace_slot(pc, paused[i].name);

		if (!all && slot < 0) {
			log_error("no pacing slot left for %s: its pause cannot be kept",
				  paused[i].name);
			continue;
		}
		want[slot + 1] = 1;
		log_warn("%s is paused (since %lld ms ago): smsqctl resume%s%s", all ? "all sending"
			 : paused[i].name, (long long)(clock_wall_ms() - paused[i].since_ms),
			 all ? "" : " ", all ? "" : paused[i].name);
	}
	for (int slot = -1; slot < PACE_MAX_SLOTS; slot++)
		pace_set_paused(pc, slot, want[slot + 1]);
}

/* Read the store's pauses (the store opened as so says, and closed at
 * once) and apply them to cfg's pacing file.  Returns 0 or -1 (said). */
static int sync_pauses(const struct config *cfg, const struct store_opts *so)
{
	struct store_pause paused[STORE_PAUSE_MAX];
	char err[512];
	store *st = store_open(so, err, sizeof(err));
	int n_paused;
	pace *pc;
	if (st == NULL) {
		log_error("%s", err);
		return -1;
	}
	n_paused = store_paused(st, paused, STORE_PAUSE_MAX);
	if (n_paused < 0)
		log_error("%s", store_errmsg(st));
	store_close(&st);
	if (n_paused < 0)
		return -1;
	pc = pace_open(cfg->store_dir, err, sizeof(err));
	if (pc == NULL) {
		log_error("%s", err);
		return -1;
	}
	apply_pauses(pc, paused, n_paused);
	pace_close(&pc);
	return 0;
}

/* With the directory locked: the store opened once before any fork, to
 * fail fast (and to record its map ceiling for smsqctl), and the pacing
 * file, providers or not: it is created (its blocks allocated) while there
 * is room, so that a pool restarted on a full disk can still send what it
 * holds; where it cannot be, the pool does not start.  Both closed at once.
 * Returns 0 or -1 (said). */
static int prepare_files(struct pool *p)
{
	struct store_opts so = {
		.dir = p->cfg->store_dir,
		.map_bytes = (uint64_t)p->cfg->store_map_size_mb << 20,
		.map_max_bytes = (uint64_t)p->cfg->store_map_max_mb << 20,
		.record_ceiling = 1,
		.seal_key = CONFIG_STORE_KEY(p->cfg),
	};
	char err[512], note[PATH_MAX + 200];

	if (sync_pauses(p->cfg, &so) != 0)
		return -1;
	/* The counters stay mapped in the master: each child counts through
	 * the mapping it inherits. */
	p->ctr = counters_open(p->cfg->store_dir, 0, err, sizeof(err));
	if (p->ctr == NULL) {
		log_error("%s", err);
		return -1;
	}
	p->vt = velocity_table_new(p->cfg->store_dir, (uint64_t)p->cfg->velocity_slots,
				   clock_wall_ms(), note, sizeof(note), err, sizeof(err));
	if (p->vt == NULL) {
		log_error("%s", err);
		counters_close(&p->ctr);
		return -1;
	}
	if (note[0] != '\0')
		log_info("velocity: %s", note);
	p->velocity_save_ms = clock_mono_ms() + POOL_VELOCITY_SAVE_MS;
	return 0;
}

/* Save the velocity counts (now and then, and at the stop); a failure is
 * logged and the last save stays. */
static void save_velocity(struct pool *p)
{
	char err[512];

	if (velocity_table_save(p->vt, clock_wall_ms(), err, sizeof(err)) != 0)
		log_error("velocity: %s", err);
	p->velocity_save_ms = clock_mono_ms() + POOL_VELOCITY_SAVE_MS;
}

/* Raise the soft descriptor limit to the hard one, and say what it is. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("descriptor limit unknown: getrlimit: %s", strerror(errno));
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("descriptor limit %llu per process: cannot raise it to %llu: %s",
				 (unsigned long long)was, (unsigned long long)rl.rlim_max,
				 strerror(errno));
			return;
		}
	}
	if (was < rl.rlim_cur)
		log_info("descriptor limit %llu per process (raised from %llu)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)was);
	else
		log_info("descriptor limit %llu per process (the hard limit)",
			 (unsigned long long)rl.rlim_cur);
}

/* config_diff()'s report of one change, into the log. */
static void log_change(void *user, const char *name, const char *was, const char *now,
		       int restart)
{
	(void)user;
	if (restart)
		log_warn("reload: %s: %s -> %s needs a restart of the pool; %s stays in force "
			 "until then", name, was, now, was);
	else if (was == NULL)
		log_info("reload: %s: changed (not shown)", name);
	else
		log_info("reload: %s: %s -> %s", name, was[0] ? was : "(none)",
			 now[0] ? now : "(none)");
}

/* SIGHUP: read the configuration again from the same files and flags,
 * check it whole, and only then make it the one in force and start
 * replacing the workers (roll()).  See DESIGN above. */
static void reload(struct pool *p)
{
	struct config *next = xmalloc(sizeof(*next));
	struct config *applied = xmalloc(sizeof(*applied));
	struct store_opts so = { .dir = p->cfg->store_dir, .read_only = 1 };
	char err[640];
	int changes, kept;

	log_info("SIGHUP: reading the configuration again");
	if (config_build(next, p->src, err, sizeof(err)) != 0)
		goto refused;
	*applied = *next;
	kept = config_keep_restart_only(applied, p->cfg);
	if (dispatch_check(applied, err, sizeof(err)) != 0)
		goto refused;
	changes = config_diff(p->cfg, next, log_change, NULL);
	/* Pauses the pacing file lost are the store's again; a store that
	 * cannot be read now leaves the file's as they are. */
	if (sync_pauses(applied, &so) != 0)
		log_warn("reload: the pauses were not read again (above); the pacing file "
			 "keeps its own");
	free(p->cfg);
	p->cfg = applied;
	applied = NULL;
	set_log(p->cfg, "smsq-worker");
	p->gen++;
	p->roll_pending = 1;
	log_info("reload: configuration accepted (%d change(s), %d kept until a restart); "
		 "replacing the workers one at a time", changes - kept, kept);
	(void)config_warn_insecure(p->cfg);
	/* The broker is not replaced: it reads the producer keys again. */
	if (p->has_broker && p->slots[0].pid > 0)
		kill(p->slots[0].pid, SIGHUP);
	goto out;
refused:
	log_error("reload refused, the configuration in force stays: %s", err);
out:
	free(applied);
	free(next);
}

/* One step of a reload's roll, each turn of the master's loop: wait for
 * the worker being replaced to exit (SIGKILL past the stop budget) and for
 * its successor to have run POOL_RELOAD_SETTLE_MS, then stop the next
 * worker of an older generation. */
static void roll(struct pool *p, int64_t now)
{
	if (p->rolling > 0) {
		struct slot *s = &p->slots[p->rolling];

		if (s->reloading) {
			if (s->pid > 0 && now >= s->kill_at_ms) {
				char name[32];

				log_warn("reload: %s pid=%ld did not stop within %ld ms: killing it",
					 slot_name(p, p->rolling, name, sizeof(name)), (long)s->pid,
					 s->stop_budget_ms);
				kill(s->pid, SIGKILL);
				s->kill_at_ms = INT64_MAX;
			}
			return;
		}
		if (s->pid == 0 || now - s->started_ms < POOL_RELOAD_SETTLE_MS)
			return;
		p->rolling = 0;
	}
	for (int i = 1; i <= p->last_slot; i++) {
		struct slot *s = &p->slots[i];
		char name[32];

		/* One that is down starts with the configuration in force; the
		 * receipt endpoint checks signatures with the providers' tokens. */
		if (s->gen == p->gen || s->pid == 0 || (i > p->n_workers && i != p->receiver_slot))
			continue;
		/* Its broker must be there to hold its requests. */
		if (behind_broker(p, i) &&
		    (p->slots[0].pid == 0 || now - p->slots[0].started_ms < POOL_RELOAD_SETTLE_MS))
			return;
		s->reloading = 1;
		s->kill_at_ms = now + s->stop_budget_ms;
		p->rolling = i;
		if (behind_broker(p, i))
			kill(p->slots[0].pid, SIGUSR1);
		log_info("reload: stopping %s pid=%ld gracefully, to start it again with "
			 "the new configuration%s", slot_name(p, i, name, sizeof(name)), (long)s->pid,
			 behind_broker(p, i) ? " (the broker holds new requests meanwhile)"
			 : !p->has_broker && i == 1 ? " (the ingest endpoint is closed until it is "
						     "back: producers resend what gets no ack)"
			 : "");
		kill(s->pid, SIGTERM);
		return;
	}
	if (p->roll_pending) {
		p->roll_pending = 0;
		log_info("reload: done: every worker%s runs the new configuration",
			 p->receiver_slot ? " and the receipt endpoint" : "");
	}
}

static void begin_stop(struct pool *p)
{
	p->stopping = 1;
	p->stop_deadline_ms = clock_mono_ms() + p->cfg->pool_shutdown_timeout_ms;
	log_info("stopping: %s stops intake, workers finish their batch",
		 p->has_broker ? "broker" : "worker-1");
	if (p->slots[0].pid > 0)
		kill(p->slots[0].pid, SIGUSR1);
	signal_all(p, 1, SIGTERM);
}

int pool_run(const struct config *cfg, const struct config_source *src)
{
	struct pool p;
	char absdir[PATH_MAX];
	sigset_t set, blocked;
	int lock_fd;
	int code = 0;

	memset(&p, 0, sizeof(p));
	p.cfg = xmalloc(sizeof(*p.cfg));
	*p.cfg = *cfg;
	p.src = src;
	p.n_workers = (int)cfg->pool_workers;
	if (p.n_workers == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		p.n_workers = cores > 0 ? (int)cores : 1;
	}
	/* A broker only when several workers take events: the only one
	 * binds the ingest endpoint itself, which saves a hop (a process and
	 * two ZeroMQ I/O threads per event). */
	p.has_broker = p.n_workers > 1 &&
		       (cfg->ingest_workers == 0 || cfg->ingest_workers > 1);
	if (prepare_dir(&p, absdir) != 0) {
		code = 1;
		goto out;
	}
	lock_fd = lock_dir(absdir);
	if (lock_fd < 0) {
		code = 1;
		goto out;
	}
	if (prepare_files(&p) != 0) {
		close(lock_fd);
		code = 1;
		goto out;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* SIGUSR1 and SIGUSR2 are the broker's, blocked here so that a child
	 * is born with them blocked (spawn()); the master never takes them. */
	blocked = set;
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGUSR2);
	sigprocmask(SIG_BLOCK, &blocked, NULL);
	signal(SIGPIPE, SIG_IGN);

	p.last_slot = p.n_workers;
	if (cfg->metrics_listen[0] != '\0')
		p.monitor_slot = ++p.last_slot;
	if (cfg->outcomes_url[0] != '\0')
		p.pusher_slot = ++p.last_slot;
	if (cfg->receipts_listen[0] != '\0')
		p.receiver_slot = ++p.last_slot;
	p.slots = xcalloc((size_t)p.last_slot + 1, sizeof(*p.slots));
	log_info("pool starting: %d workers, store %s, ingest %s (%s)", p.n_workers, absdir,
		 cfg->ingest_endpoint, p.has_broker ? "through a broker" : "bound by worker-1");
	(void)config_warn_insecure(cfg);
	raise_fd_limit();
	for (int i = !p.has_broker; i <= p.last_slot; i++)
		spawn(&p, i);
	counters_set(&counters_mine(p.ctr)->workers_running, (uint64_t)running(&p, 0));
	counters_set(&counters_gauges(p.ctr)->receipts_counted, 0); /* until this pool counts */

	for (;;) {
		struct timespec ts = { 0, POOL_TICK_MS * 1000000L };
		int sig = sigtimedwait(&set, NULL, &ts);
		int64_t now = clock_mono_ms();

		if (sig == SIGTERM || sig == SIGINT) {
			if (p.stopping) {
				log_warn("second stop signal: killing the pool");
				signal_all(&p, 0, SIGKILL);
				code = 1;
				break;
			}
			begin_stop(&p);
		} else if (sig == SIGHUP && p.stopping) {
			log_info("SIGHUP: the pool is stopping: nothing reloaded");
		} else if (sig == SIGHUP) {
			reload(&p);
		}
		reap(&p);
		if (!p.stopping) {
			for (int i = !p.has_broker; i <= p.last_slot; i++)
				if (p.slots[i].pid == 0 && now >= p.slots[i].restart_at_ms)
					spawn(&p, i);
			roll(&p, now);
			if (now >= p.velocity_save_ms)
				save_velocity(&p);
			counters_set(&counters_mine(p.ctr)->workers_running, (uint64_t)running(&p, 0));
			continue;
		}
		if (running(&p, 1) == 0 && !p.broker_told_stop) {
			if (p.slots[0].pid > 0)
				kill(p.slots[0].pid, SIGTERM);
			p.broker_told_stop = 1;
			p.stop_deadline_ms = now + POOL_BROKER_STOP_MS;
		}
		if (running(&p, 0) == 0)
			break;
		if (now >= p.stop_deadline_ms) {
			log_warn("stop timeout: killing %d process(es)", running(&p, 0));
			signal_all(&p, 0, SIGKILL);
			code = 1;
			break;
		}
	}
	while (running(&p, 0) > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
			break;
		for (int i = 0; i <= p.last_slot; i++)
			if (p.slots[i].pid == pid)
				p.slots[i].pid = 0;
	}
	counters_set(&counters_mine(p.ctr)->workers_running, 0);
	save_velocity(&p);
	velocity_table_destroy(&p.vt);
	counters_close(&p.ctr);
	log_info("pool stopped");
	free(p.slots);
	close(lock_fd);
out:
	backends_free(&p);
	free(p.cfg);
	return code;
}
