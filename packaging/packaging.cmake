# Installation extras and packaging, included at the end of the top-level CMakeLists.txt:
# pkg-config file, CMake package config (mmapguard::mmapguard), man page, CPack DEB settings.
include(CMakePackageConfigHelpers)

set(MG_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(MG_CMAKE_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mmapguard)

# mmapguard.pc: written at install time, so that `cmake --install build --prefix P` (and CPack,
# which installs with DESTDIR) get their own prefix in it.
install(CODE "
  set(MG_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  if(IS_ABSOLUTE \"${CMAKE_INSTALL_LIBDIR}\")
    set(MG_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  else()
    set(MG_PC_LIBDIR \"\\\${prefix}/${CMAKE_INSTALL_LIBDIR}\")
  endif()
  if(IS_ABSOLUTE \"${CMAKE_INSTALL_INCLUDEDIR}\")
    set(MG_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  else()
    set(MG_PC_INCLUDEDIR \"\\\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\")
  endif()
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${MG_PACKAGING_DIR}/mmapguard.pc.in\" \"${CMAKE_BINARY_DIR}/packaging/mmapguard.pc\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\"
       TYPE FILE FILES \"${CMAKE_BINARY_DIR}/packaging/mmapguard.pc\")
")

# CMake package: find_package(mmapguard) -> mmapguard::mmapguard (relocatable: paths are computed
# from the config file's own location).
configure_package_config_file(${MG_PACKAGING_DIR}/mmapguardConfig.cmake.in
  ${CMAKE_BINARY_DIR}/packaging/mmapguardConfig.cmake
  INSTALL_DESTINATION ${MG_CMAKE_CONFIG_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/packaging/mmapguardConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/packaging/mmapguardConfig.cmake
  ${CMAKE_BINARY_DIR}/packaging/mmapguardConfigVersion.cmake
  DESTINATION ${MG_CMAKE_CONFIG_DIR})

# mmapguard(1).
install(FILES ${MG_PACKAGING_DIR}/mmapguard.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# CPack: `cd build && cpack -G DEB`. For a Debian-style layout (lib/<multiarch>), configure with
# -DCMAKE_INSTALL_PREFIX=/usr; the package always installs under /usr.
if(NOT CPACK_GENERATOR)
  set(CPACK_GENERATOR DEB)
endif()
set(CPACK_PACKAGE_NAME mmapguard)
set(CPACK_PACKAGE_VENDOR "mmapguard")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "report or refuse truncations of memory-mapped files (the cause of SIGBUS)")
set(CPACK_PACKAGE_DESCRIPTION
  "mmapguard is an LD_PRELOAD library and a command that track the file-backed memory mappings of a program and report, or refuse, every call that would truncate a file under a live mapping.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_NAME mmapguard)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "mmapguard developers <mmapguard@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.34), libunwind8, libdw1")
include(CPack)
