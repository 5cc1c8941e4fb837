"""cmake --install into a temporary prefix; pkg-config and find_package consumers; the installed command."""
import glob
import os
import re
import shutil
import subprocess
import unittest

from cmdtest import TESTS_SRC, CmdTest, clean_env, prog, summary_line

BUILD = os.environ.get("MG_BUILD_DIR", "")


class Install(CmdTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        if not BUILD or not os.path.isdir(BUILD):
            raise AssertionError("MG_BUILD_DIR is not the build tree: %r" % BUILD)
        cls.prefix_root = tempfile.mkdtemp(prefix="mgc-install-")
        cls.prefix = os.path.join(cls.prefix_root, "pfx")
        p = subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], capture_output=True,
                           text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("cmake --install failed:\n%s\n%s" % (p.stdout, p.stderr))
        libs = glob.glob(os.path.join(cls.prefix, "lib*", "**", "libmmapguard.so"), recursive=True)
        if len(libs) != 1:
            raise AssertionError("expected one installed libmmapguard.so, found %s" % libs)
        cls.lib = libs[0]
        cls.libdir = os.path.dirname(cls.lib)
        cls.pcdir = os.path.join(cls.libdir, "pkgconfig")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix_root, ignore_errors=True)

    def run_ok(self, argv, env=None, cwd=None):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env or clean_env(), cwd=cwd)
        self.assertEqual(p.returncode, 0, "%s failed:\n%s" % (argv, self.describe(p)))
        return p

    def test_files(self):
        P = self.prefix
        for rel in ("bin/mmapguard", "include/mmapguard.h", "share/man/man1/mmapguard.1"):
            self.assertTrue(os.path.exists(os.path.join(P, rel)), "not installed: " + rel)
        self.assertTrue(os.access(os.path.join(P, "bin/mmapguard"), os.X_OK))
        self.assertTrue(os.path.exists(os.path.join(self.pcdir, "mmapguard.pc")))
        self.assertTrue(os.path.exists(os.path.join(self.libdir, "cmake/mmapguard/mmapguardConfig.cmake")))
        self.assertTrue(os.path.exists(os.path.join(self.libdir, "cmake/mmapguard/mmapguardConfigVersion.cmake")))
        with open(os.path.join(self.pcdir, "mmapguard.pc")) as f:
            pc = f.read()
        self.assertIn("prefix=%s\n" % P, pc, "the .pc file must carry the install prefix")

    def test_installed_command_uses_installed_library(self):
        p = subprocess.run([os.path.join(self.prefix, "bin/mmapguard"), prog("mgc_envprog")],
                           capture_output=True, text=True, timeout=60, env=clean_env({"TMPDIR": self.tmpdir}))
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("LD_PRELOAD=%s\n" % os.path.realpath(self.lib), p.stdout)
        target = os.path.join(self.tmp, "data")
        p = subprocess.run([os.path.join(self.prefix, "bin/mmapguard"), prog("mgc_truncprog"), target],
                           capture_output=True, text=True, timeout=60, env=clean_env({"TMPDIR": self.tmpdir}))
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertEqual(summary_line(p.stderr)[:2], (1, 0), self.describe(p))

    def test_pkg_config_program(self):
        if not shutil.which("pkg-config"):
            self.skipTest("pkg-config not installed")
        env = clean_env({"PKG_CONFIG_PATH": self.pcdir})
        flags = self.run_ok(["pkg-config", "--cflags", "--libs", "mmapguard"], env=env).stdout.split()
        self.assertIn("-I" + os.path.join(self.prefix, "include"), flags)
        self.assertIn("-L" + self.libdir, flags)
        self.assertIn("-lmmapguard", flags)
        self.assertEqual(self.run_ok(["pkg-config", "--modversion", "mmapguard"], env=env).stdout.strip(),
                         os.environ.get("MG_VERSION", "?"))
        exe = os.path.join(self.tmp, "modeprog")
        self.run_ok(["cc", "-o", exe, os.path.join(TESTS_SRC, "modeprog.c")] + flags, env=env)
        # Without the guard: links and runs unchanged (no dependency on the library).
        p = self.run_ok([exe])
        self.assertEqual(p.stdout, "mode=-1\n", "without the guard, mmapguard_mode_if_loaded() must be -1")
        # With it: the helpers see the preloaded guard.
        mg = os.path.join(self.prefix, "bin/mmapguard")
        env = clean_env({"TMPDIR": self.tmpdir})
        for opt, mode in (([], 1), (["--mode", "block"], 2), (["--mode", "off"], 0)):
            p = self.run_ok([mg] + opt + [exe], env=env)
            self.assertEqual(p.stdout, "mode=%d\n" % mode, "mmapguard %s: %s" % (opt, self.describe(p)))
        p = self.run_ok([exe], env=clean_env({"LD_PRELOAD": self.lib, "MMAPGUARD_MODE": "block"}))
        self.assertEqual(p.stdout, "mode=2\n")

    def test_cmake_find_package(self):
        src = os.path.join(self.tmp, "consumer")
        os.mkdir(src)
        shutil.copy(os.path.join(TESTS_SRC, "modeprog.c"), src)
        with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.20)\nproject(consumer C)\n"
                    "find_package(mmapguard 0.1 REQUIRED)\n"
                    "add_executable(modeprog modeprog.c)\n"
                    "target_link_libraries(modeprog PRIVATE mmapguard::mmapguard)\n"
                    "message(STATUS \"MMAPGUARD_LIBRARY=${MMAPGUARD_LIBRARY}\")\n")
        build = os.path.join(self.tmp, "consumer-build")
        p = self.run_ok(["cmake", "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=" + self.prefix])
        self.assertIn("MMAPGUARD_LIBRARY=" + self.lib, p.stdout)
        self.run_ok(["cmake", "--build", build])
        exe = os.path.join(build, "modeprog")
        self.assertEqual(self.run_ok([exe]).stdout, "mode=-1\n")
        p = self.run_ok([os.path.join(self.prefix, "bin/mmapguard"), "--mode", "block", exe],
                        env=clean_env({"TMPDIR": self.tmpdir}))
        self.assertEqual(p.stdout, "mode=2\n")

    def test_man_page(self):
        man = os.path.join(self.prefix, "share/man/man1/mmapguard.1")
        with open(man) as f:
            text = f.read()
        for needle in ("MMAPGUARD_MODE", "MMAPGUARD_LOG", "EXIT STATUS", "io_uring", "RTLD_DEEPBIND",
                       "static", "syscall"):
            self.assertIn(needle, text)
        if shutil.which("man"):
            p = subprocess.run(["man", "-l", man], capture_output=True, text=True, timeout=60,
                               env=clean_env({"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}))
            self.assertEqual(p.returncode, 0, self.describe(p))
            self.assertRegex(p.stdout, r"mmapguard report")


if __name__ == "__main__":
    unittest.main()
