#ifndef torchsegTestProcesses_h
#define torchsegTestProcesses_h

// Background processes for the distributed-training tests: start a shell command with its output in a file, wait for
// it with a time limit, pick a free TCP port.
#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace torchseg
{
namespace testing
{

/** Starts `sh -c "exec COMMAND"` with stdout and stderr in \a log; returns its process id (-1 on failure). */
inline pid_t
StartProcess(const std::string & command, const std::filesystem::path & log)
{
  const std::string full = "exec " + command + " > '" + log.string() + "' 2>&1";
  const pid_t       pid = fork();
  if (pid == 0)
  {
    execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  return pid;
}

/** Waits at most \a seconds for the process: its exit code (128 + signal when killed), or -1 when it still runs. */
inline int
WaitProcess(pid_t pid, double seconds)
{
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;)
  {
    int         status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid)
    {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (done < 0 || std::chrono::steady_clock::now() > deadline)
    {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/** Kills the process (SIGKILL) and reaps it. */
inline void
KillProcess(pid_t pid)
{
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

/** A TCP port free on 127.0.0.1 just now (the kernel's pick). */
inline int
FreePort()
{
  const int   s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int       port = 0;
  if (bind(s, reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr *>(&address), &length) == 0)
  {
    port = ntohs(address.sin_port);
  }
  close(s);
  return port;
}

} // namespace testing
} // namespace torchseg

#endif
