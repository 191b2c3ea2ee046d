// farm: runs tasks on a farm from the command line, through a Kernel (farm/client/).
//
//   farm submit --server SPEC [--server SPEC]... TASK [ARG]...    prints the result
//   farm map --server SPEC [--server SPEC]... TASK FILE           TASK once per line of FILE ('-': stdin); the
//                                                                 line's words are its arguments; one result per
//                                                                 line, in input order; a progress bar on stderr
//                                                                 when it is a terminal
//   farm broadcast --server SPEC [--server SPEC]... TASK [ARG]... TASK once on every server; one line per server
//   --tls-cert FILE --tls-key FILE --tls-ca FILE                   for tls: servers (which require a certificate)
//
// Words become values as farm/client/word_values.hpp says: integers, floats, true/false/null, JSON for words that
// start with '[', '{' or '"', any other word a string. Results print as numbers, strings as themselves, anything
// else as JSON. A failed task prints "farm: task 'T' failed (KIND): MESSAGE" on stderr (map: naming the line, and
// an empty line on stdout in its place) and the exit status is 1. Tasks may run twice if a server is lost
// (at-least-once); --timeout bounds how long a task may wait for a server.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "farm/client/kernel.hpp"
#include "farm/client/word_values.hpp"
#include "tools/cli.hpp"
#include "tools/farm_client_tls.hpp"

using namespace rfarm;
using namespace rfarm::farm;

namespace {

constexpr const char* kTool = "farm";

int fail_task(const RemoteFailure& f, const std::string& where = {}) {
  std::fprintf(stderr, "%s: %s%s\n", kTool, where.c_str(), describe(f).c_str());
  return tools::kExitFailure;
}

// map's results, slot per line.
class LinesSink final : public ResultSink {
 public:
  explicit LinesSink(std::size_t n) : results_(n) {}
  void complete(std::uint64_t tag, RemoteResult r) override {
    {
      std::lock_guard lock(mutex_);
      results_[tag] = std::move(r);
      ++done_;
    }
    changed_.notify_all();
  }
  // Waits up to `step`; how many are done.
  std::size_t wait(std::chrono::milliseconds step) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, step, [&] { return done_ == results_.size(); });
    return done_;
  }
  std::vector<std::optional<RemoteResult>>& results() { return results_; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<RemoteResult>> results_;
  std::size_t done_ = 0;
};

void draw_progress(std::size_t done, std::size_t total) {
  constexpr int kWidth = 40;
  int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), done, total);
  std::fflush(stderr);
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Where submit's and broadcast's task arguments start: after the first word that is neither an option nor an
// option's value, past the subcommand. argc if there is none (or for map, whose FILE CLI11 takes).
int task_words_start(int argc, char** argv) {
  static const std::vector<std::string_view> kWithValue{"--server", "--timeout", "--window", "--backend", "--spin-us",
                                                        "--log-level", "--tls-cert", "--tls-key", "--tls-ca"};
  int i = 1;
  while (i < argc && argv[i][0] == '-') i += std::find(kWithValue.begin(), kWithValue.end(), argv[i]) != kWithValue.end() ? 2 : 1;
  if (i >= argc || (std::string_view(argv[i]) != "submit" && std::string_view(argv[i]) != "broadcast")) return argc;
  for (++i; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return std::min(i + 2, argc);  // "-- TASK ARGS..."
    if (a.starts_with("-")) {
      if (std::find(kWithValue.begin(), kWithValue.end(), a) != kWithValue.end()) ++i;
      continue;
    }
    return i + 1;  // TASK
  }
  return argc;
}

}  // namespace

int main(int argc, char** argv) {
  tools::CommandLine cli(kTool, "Runs tasks on a farm of farm-servers: one (submit), one per line of a file (map), "
                                "or one on every server (broadcast).");
  CLI::App& app = cli.app();
  app.require_subcommand(1);
  app.fallthrough();
  std::vector<std::string> servers;
  std::string task;
  std::vector<std::string> words;
  std::string file;
  double timeout_s = 60;
  std::size_t window = 512;
  tools::TlsFiles tls_files;
  std::vector<tools::TlsFileOptions> tls_options;

  auto common = [&](CLI::App* c) {
    c->add_option("--server", servers, "A farm-server: tcp:HOST:PORT, HOST:PORT, tls:HOST:PORT, unix:PATH (repeatable)")
        ->type_name("SPEC")
        ->allow_extra_args(false)  // one SPEC per --server: the words after it are the task's
        ->required()
        ->check([](const std::string& text) {
          auto spec = EndpointSpec::parse_connect(text);
          return spec ? std::string() : "'" + text + "': " + spec.error().message();
        });
    c->add_option("--timeout", timeout_s, "Seconds a task may wait for a server before it fails (default 60)")
        ->type_name("S")
        ->check(CLI::PositiveNumber);
    c->add_option("task", task, "The task's name")->type_name("TASK")->required();
    tools::TlsFileOptions tls = tools::add_tls_file_options(*c, tls_files, tools::TlsRole::client);
    tls.certificate->needs(tls.key);
    tls.key->needs(tls.certificate);
    tls_options.push_back(tls);
  };
  CLI::App* submit = app.add_subcommand("submit", "Run TASK once with ARGS and print its result");
  common(submit);
  submit->footer("ARG...: the task's arguments, after TASK: integer, float, true/false/null, JSON ([...], {...}, "
                 "\"...\"), else a string");
  CLI::App* map = app.add_subcommand("map", "Run TASK once per line of FILE; print the results in input order");
  common(map);
  map->add_option("file", file, "Input: one task's arguments per line ('-': stdin)")->type_name("FILE")->required();
  map->add_option("--window", window, "Tasks in flight per server (default 512)")->check(tools::positive_integer());
  CLI::App* broadcast = app.add_subcommand("broadcast", "Run TASK once on every server; one result per line");
  common(broadcast);
  broadcast->footer("ARG...: the task's arguments, after TASK, as for submit");
  cli.add_reactor_options();
  // Everything after TASK is an argument, as it is: "-5" is a number, not an option, and "[1,2]" one JSON word
  // (CLI11 would split it). CLI11 sees the command line up to TASK.
  int cut = task_words_start(argc, argv);
  words.assign(argv + cut, argv + argc);
  if (auto status = cli.parse(cut, argv)) return *status;
  farm::FarmTlsOptions tls;
  for (std::size_t i = 0; i < tls_options.size(); ++i) {
    if (!std::array{submit, map, broadcast}[i]->parsed()) continue;
    auto made = tools::farm_client_tls(tls_options[i], tls_files, servers);
    if (!made) return made.error().usage ? cli.usage_error(made.error().message) : tools::report_failure(kTool, made.error().message);
    tls = std::move(*made);
  }

  KernelOptions options;
  options.servers = servers;
  options.tls = std::move(tls);
  options.window = window;
  options.backend = cli.reactor_options().backend;
  options.spin = cli.reactor_options().spin;  // --spin-us: the kernel's engine polls before sleeping
  options.log_level = cli.reactor_options().log_level.value_or(LogLevel::error);
  auto timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(timeout_s));
  options.default_policy.fail_after = timeout;
  options.call_timeout = timeout;
  options.client_name = "farm";

  // The input first: a usage problem in it (bad JSON) is reported before any server is contacted.
  std::vector<std::vector<std::uint8_t>> inputs;
  if (map->parsed()) {
    std::ifstream opened;
    if (file != "-") {
      opened.open(file);
      if (!opened) return tools::report_failure(kTool, "cannot read " + file);
    }
    std::istream& in = file == "-" ? std::cin : opened;
    std::size_t line_number = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_number;
      auto args = encode_words(split_words(line));
      if (!args) return tools::report_failure(kTool, file + ":" + std::to_string(line_number) + ": " + args.error().message);
      inputs.push_back(std::move(*args));
    }
  } else {
    auto args = encode_words(words);
    if (!args) return cli.usage_error(args.error().message);
    inputs.push_back(std::move(*args));
  }

  auto kernel = Kernel::start(options);
  if (!kernel) return tools::report_failure(kTool, "cannot start the kernel: " + kernel.error().message());

  if (submit->parsed()) {
    auto r = kernel->future_encoded(task, std::move(inputs.front()), options.default_policy).wait();
    if (!r) return fail_task(r.error());
    std::printf("%s\n", r->to_display_text().c_str());
    return tools::kExitSuccess;
  }
  if (broadcast->parsed()) {
    int status = tools::kExitSuccess;
    for (RemoteResult& r : kernel->broadcast_encoded(task, std::move(inputs.front()))) {
      if (r) std::printf("%s\n", r->to_display_text().c_str());
      else status = fail_task(r.error());
    }
    return status;
  }

  auto sink = std::make_shared<LinesSink>(inputs.size());
  std::vector<TaskRecord> records;
  records.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    records.push_back(Kernel::make_record(task, std::move(inputs[i]), options.default_policy, sink, i));
  kernel->submit_many(std::move(records));
  bool bar = ::isatty(STDERR_FILENO) == 1;
  for (;;) {
    std::size_t done = sink->wait(std::chrono::milliseconds(100));
    if (bar) draw_progress(done, inputs.size());
    if (done == inputs.size()) break;
  }
  if (bar) std::fprintf(stderr, "\n");
  int status = tools::kExitSuccess;
  std::size_t line = 0;
  for (auto& r : sink->results()) {
    ++line;
    if (*r) {
      std::printf("%s\n", (*r)->to_display_text().c_str());
    } else {
      std::printf("\n");
      status = fail_task(r->error(), "line " + std::to_string(line) + ": ");
    }
  }
  return status;
}
